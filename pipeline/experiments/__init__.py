"""Experiments over whole runs, one command each: compare two runs on the same test utterances
(`compare`), the thesis' comparisons (`thesis`) and the default recipe's ablations (`recipes`) as
DVC experiment sets (`runs`: what the sets share)."""
