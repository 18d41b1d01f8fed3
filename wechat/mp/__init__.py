"""The mini-program member API (/api/mp/v1/)."""
