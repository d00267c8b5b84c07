"""Running the app: the WSGI app under gunicorn (HTTP), Socket Mode, live knowledge reload,
logging."""
