"""python -m acai_hf transcribe PAGE_OR_PDF... -o OUT_DIR (see acai_hf/cli.py)."""
from acai_hf.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
