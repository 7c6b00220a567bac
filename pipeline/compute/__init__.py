"""Where work runs: worker processes (joblib: loky or Dask) and torch devices."""
