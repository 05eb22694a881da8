"""The errors the training job reports to its user (one line on stderr, exit status 1)."""


class TrainingError(Exception):
    """Base class: something the user can fix (data, paths, options)."""


class DataError(TrainingError):
    """The MNIST files are missing, unreadable or not what they should be."""


class MissingDataError(DataError):
    """Some of the four files are not in the data directory and could not be fetched."""


class ChecksumError(DataError):
    """A file parses as IDX but its content is not the canonical MNIST file."""


class ExportError(TrainingError):
    """The model could not be exported (e.g. the version already exists)."""


class DivergedError(TrainingError):
    """The loss became NaN or infinite: the run is abandoned and nothing is exported."""
