//! Prometheus durations (`1h30m`, `90s`, `5m`) and byte sizes (`20MB`, `1.5KiB`).
