"""One module per kind of monitor; each registers a `MonitorSpec` with `steering.monitors.register` at import."""
