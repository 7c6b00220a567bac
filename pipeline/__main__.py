"""`python -m pipeline STAGE [options]`: run one DVC stage (what dvc.yaml calls)."""
from pipeline.stages import main

main()
