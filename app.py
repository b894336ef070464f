"""Entry point: `gunicorn app:app`, `flask --app app run`, `flask --app app create-user`."""

from dotenv import load_dotenv

load_dotenv()  # a .env file in development; real environment variables win

from blog import create_app  # noqa: E402

app = create_app()
