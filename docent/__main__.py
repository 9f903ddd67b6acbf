"""`python -m docent ask "..."`, `python -m docent chat`, `python -m docent serve`."""

from docent.assistant.cli import main

if __name__ == "__main__":
    main(prog_name="python -m docent")
