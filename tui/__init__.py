"""tetherguard's Textual user interface; it talks to the engine only through its public API."""
