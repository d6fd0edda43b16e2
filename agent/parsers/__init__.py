"""Pure parsers: Android's text in, typed :mod:`agent.model` records out.

No I/O, no adb, no clocks: every function takes the text a command printed and returns a
:class:`~agent.model.Parsed` value with warnings for every line it did not understand. They are
proven on real captures (``shared/android-samples``) and on the simulator's output alike.
"""
