"""Built-in recipes (TOML) shipped with the package."""
