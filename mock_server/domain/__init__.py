"""The domain: state and the rules that change it. It knows no HTTP and no API JSON shapes."""
