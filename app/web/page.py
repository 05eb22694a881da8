"""The web page at `/`: draw or upload a digit and watch the model's guess (static files only)."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"

router = APIRouter(tags=["ui"])


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The drawing page."""
    # no-cache: browsers revalidate, so a redeployed page is never served stale.
    return FileResponse(INDEX_HTML, media_type="text/html", headers={"Cache-Control": "no-cache"})


def mount_static(app: FastAPI) -> None:
    """Serve the page's stylesheet and script under `/static`."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
