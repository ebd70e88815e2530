"""The notebooks' layer: one module per notebook (each function is one cell) plus the figures.

``convert`` (01) · ``glpft`` (02) · ``rollouts`` (03) · ``results`` (04) · ``plots``. The engine never imports
this package (``tests/test_layout.py`` checks it); it may import anything.
"""
