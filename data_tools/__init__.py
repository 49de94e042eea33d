"""Everyday command-line tools around recordings and models, built on `steering.data`.

One module per tool, each with `main(argv=None) -> int` and `python -m data_tools.NAME --help`:
merge, clean, stats, balance, augment_preview, video, saliency (console names `steering-NAME`).
"""
