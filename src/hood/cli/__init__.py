"""The command line: parses arguments, calls the library, prints. Nothing else lives here."""
