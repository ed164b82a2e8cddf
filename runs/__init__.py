"""ktiw.runs: run directories, executors (local, Ray), reuse/resume of finished runs, sweeps
and the plots of run directories."""
