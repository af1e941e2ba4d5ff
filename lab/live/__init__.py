"""What the web app and the CLI both follow, published once for every reader."""
