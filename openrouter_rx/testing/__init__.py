"""Test helpers: the fake OpenRouter server and chunk builders."""
