"""Traffic the server takes on: the memory budget for work in flight, body deadlines, drain."""
