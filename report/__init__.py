"""The HTML report: self-contained pages (inlined Vega-Lite, no network) built from the
read-only serving copy that `warehouse.publish` writes. `report.build.build_report` is the entry.
"""
