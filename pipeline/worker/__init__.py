"""The scoring worker: Faust app, batch processing, intake guards, live detection driver."""
