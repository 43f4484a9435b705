"""The engine's public API: one module per noun; each public function is one unit of work (one commit)."""
