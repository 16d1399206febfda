"""Run history: every run's published figures kept in the state store, exported, summarised and shown."""
