"""The `songspace` command line: one module per command group, registered in `cli.main`."""
