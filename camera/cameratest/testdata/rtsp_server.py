#!/usr/bin/python3
"""An RTSP server for edged's camera tests: GStreamer's RTSP server (gst-rtsp-server, through
PyGObject) streaming one still picture as H.264 (x264enc) on 127.0.0.1.

    rtsp_server.py --port 8554 --image scene.png [--path /scene] [--fps 10] [--keyint N]
                   [--bitrate KBITS] [--pattern snow]
                   [--user U --password P [--auth basic|digest]] [--tls-cert C --tls-key K]

It prints "ready rtsp://127.0.0.1:PORT/PATH" on stdout once it listens, and runs until it is
killed. The picture is encoded again for every frame (imagefreeze), so a client sees a live
stream whose content is known to the test that rendered the PNG.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def png_size(path):
    """The width and height in a PNG's header."""
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--image", required=True, help="PNG picture to stream")
    ap.add_argument("--path", default="/scene")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--keyint", type=int, default=0, help="frames between key frames (default: one a second)")
    ap.add_argument("--bitrate", type=int, default=0, help="kbit/s (default: x264enc's)")
    ap.add_argument("--pattern", help="stream videotestsrc's pattern (such as snow) at the picture's size instead of the picture")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--auth", choices=["basic", "digest"], default="basic")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--check", action="store_true", help="exit 0 if every element needed is installed")
    a = ap.parse_args()

    Gst.init(None)
    if a.check:
        missing = [e for e in ("filesrc", "pngdec", "imagefreeze", "videoconvert", "x264enc", "rtph264pay",
                             "rtspsrc", "rtph264depay", "avdec_h264")
                   if Gst.ElementFactory.find(e) is None]
        if missing:
            print("missing GStreamer elements: " + ", ".join(missing), file=sys.stderr)
            sys.exit(1)
        return
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))

    keyint = a.keyint or a.fps
    bitrate = f" bitrate={a.bitrate}" if a.bitrate else ""
    source = (f'filesrc location="{a.image}" ! pngdec ! imagefreeze is-live=true ! videoconvert '
              f"! video/x-raw,framerate={a.fps}/1")
    encode = (f"video/x-raw,format=I420,framerate={a.fps}/1 "
              f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint}{bitrate} "
              f"! rtph264pay name=pay0 pt=96 config-interval=1")
    if a.pattern:
        w, h = png_size(a.image)
        source = f"videotestsrc pattern={a.pattern} is-live=true ! video/x-raw,width={w},height={h},framerate={a.fps}/1"
    launch = f"( {source} ! videoconvert ! {encode} )"
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    if a.user is not None or a.tls_cert:
        auth = GstRtspServer.RTSPAuth()
        if a.tls_cert:
            auth.set_tls_certificate(Gio.TlsCertificate.new_from_files(a.tls_cert, a.tls_key))
        if a.user is not None:
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
            if a.auth == "digest":
                auth.add_digest(a.user, a.password, token)
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            else:
                auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            factory.add_role_from_structure(Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        else:
            # TLS without users: everyone may watch.
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
            auth.set_default_token(token)
            factory.add_role_from_structure(Gst.Structure.from_string(
                "anonymous, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        server.set_auth(auth)

    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{a.port}", file=sys.stderr)
        sys.exit(1)
    scheme = "rtsps" if a.tls_cert else "rtsp"
    print(f"ready {scheme}://127.0.0.1:{a.port}{a.path}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
