def test_home_empty(client):
    r = client.get("/")
    assert r.status_code == 200
    assert b"Nothing published yet" in r.data


def test_create_and_read(client, auth):
    assert auth.login().status_code == 302
    r = client.post(
        "/posts/new",
        data={
            "title": "Hello World",
            "body": "Some **bold**",
            "tags": "Redis, Background Jobs",
            "status": "published",
        },
    )
    assert r.status_code == 302, r.data
    assert r.headers["Location"] == "/posts/hello-world"
    page = client.get("/posts/hello-world")
    assert b"<strong>bold</strong>" in page.data
    home = client.get("/")
    assert b"Hello World" in home.data
    tags = client.get("/tags")
    assert b"background-jobs" in tags.data
