"""`lip2speech COMMAND [options]`, also `python -m pipeline COMMAND [options]`: every command of the
project. A pipeline stage's name runs that stage (what dvc.yaml calls); the other commands are
loaded by module name when asked for, so a stage's import closure (its DVC deps) holds none of them.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from pipeline.stages import STAGES, load

# command -> (module with `main(argv, prog)`, what it does)
COMMANDS = {
    "speak": ("pipeline.speak", "speak for one video of a face: VIDEO -o OUT.wav"),
    "compare": ("pipeline.experiments.compare", "is one run better than another, on the same test utterances"),
    "unpack": ("pipeline.corpora.unpack", "unpack a corpus' downloaded archives into one tree"),
    "framing": ("pipeline.face.framing", "how each mouth-crop mode frames real mouths"),
    "experiments": ("", "thesis | recipes: run a set of DVC experiments, print its table"),
}
EXPERIMENT_SETS = {"thesis": "pipeline.experiments.thesis", "recipes": "pipeline.experiments.recipes"}


def program() -> str:
    """How this was started: `lip2speech` (the installed command) or `python -m pipeline`."""
    return "lip2speech" if Path(sys.argv[0]).stem == "lip2speech" else "python -m pipeline"


def usage(prog: str) -> str:
    listing = "\n".join(f"  {name:<12} {load(name).description}" for name in STAGES)
    commands = "\n".join(f"  {name:<12} {what}" for name, (_, what) in COMMANDS.items())
    return (f"usage: {prog} COMMAND [--help | options]\n\n"
            f"pipeline stages (in pipeline order; dvc.yaml runs each as `python -m pipeline STAGE`):\n{listing}\n\n"
            f"commands:\n{commands}\n\n"
            f"examples:\n  {prog} landmarks --help\n  {prog} speak clip.mp4 -o speech.wav\n"
            f"  {prog} compare HEAD workspace\n  {prog} experiments recipes --table-only\n")


def _first_sentence(doc: str | None) -> str:
    return " ".join((doc or "").split("\n\n")[0].split()).split(". ")[0].rstrip(".")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = program()
    command = argv[0] if argv else None
    if command in STAGES:
        load(command).main(argv[1:], f"{prog} {command}")
    elif command == "experiments":
        chosen = argv[1] if len(argv) > 1 else None
        if chosen not in EXPERIMENT_SETS:
            text = (f"usage: {prog} experiments {{{' | '.join(EXPERIMENT_SETS)}}} [--help | options]\n\n"
                    + "\n".join(f"  {name:<8} {_first_sentence(importlib.import_module(module).__doc__)}"
                                 for name, module in EXPERIMENT_SETS.items()) + "\n")
            if chosen in ("-h", "--help"):
                print(text)
                return
            sys.stderr.write(text)
            sys.exit(2)
        importlib.import_module(EXPERIMENT_SETS[chosen]).main(argv[2:], f"{prog} experiments {chosen}")
    elif command in COMMANDS:
        importlib.import_module(COMMANDS[command][0]).main(argv[1:], f"{prog} {command}")
    elif command in ("-h", "--help"):
        print(usage(prog))
    else:
        sys.stderr.write((f"unknown command {command!r}\n" if command else "") + usage(prog))
        sys.exit(2)


if __name__ == "__main__":
    main()
