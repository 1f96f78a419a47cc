"""The ceiling of bench/api_poll.py: an ASGI app answering every request with one fixed XML
document, served by the same uvicorn as the portal, so the difference is the portal's work."""

DOCUMENT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<response><status value="ok"></status>'
            b'<agent id="1" status="1" running="0"/></response>\n')


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/xml; charset=utf-8"),
                            (b"content-length", str(len(DOCUMENT)).encode())]})
    await send({"type": "http.response.body", "body": DOCUMENT})
