"""A test client that calls minyid the way WeChat's (and WeCom's) servers do: it signs,
encrypts in compatible/safe mode, waits at most 5 s for an answer and retries a message it
got no answer for. Written from the protocol description, independent of the C++ code."""

import base64
import hashlib
import http.client
import os
import random
import socket
import struct
import time
import urllib.parse

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def aes_key(encoding_aes_key):
    # Lenient, like WeChat: the last character's low bits are ignored.
    raw = base64.b64decode(encoding_aes_key + "=", validate=False)
    return raw[:32]


def sha1_sorted(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def encrypt(key, plaintext, receive_id, rand=None):
    rand = rand or os.urandom(8).hex().encode()
    msg = plaintext.encode() if isinstance(plaintext, str) else plaintext
    data = rand + struct.pack(">I", len(msg)) + msg + receive_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def decrypt(key, b64):
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(base64.b64decode(b64)) + dec.finalize()
    pad = data[-1]
    assert 1 <= pad <= 32, f"bad padding {pad}"
    data = data[:-pad]
    (n,) = struct.unpack(">I", data[16:20])
    return data[20:20 + n].decode(), data[20 + n:].decode()


def text_xml(openid, content, msg_id, account="gh_test", create_time=None, agent_id=None):
    x = (f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
         f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
         f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>")
    if agent_id:
        x += f"<AgentID>{agent_id}</AgentID>"
    return x + "</xml>"


def image_xml(openid, msg_id, pic="http://mmbiz.example/pic.jpg", account="gh_test"):
    return (f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[{pic}]]></PicUrl><MediaId><![CDATA[media_{msg_id}]]></MediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


def location_xml(openid, msg_id, lat, lon, label, account="gh_test"):
    return (f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType>"
            f"<Location_X>{lat}</Location_X><Location_Y>{lon}</Location_Y><Scale>15</Scale>"
            f"<Label><![CDATA[{label}]]></Label><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid, event, create_time, extra="", account="gh_test"):
    return (f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{extra}</xml>")


class Account:
    """One official account (or WeCom app) as configured in the console, calling minyid."""

    def __init__(self, port, path, token, encoding_aes_key=None, app_id=None, mode="safe", platform="mp"):
        self.port, self.path, self.token = port, path, token
        self.key = aes_key(encoding_aes_key) if encoding_aes_key else None
        self.app_id, self.mode, self.platform = app_id, mode, platform

    def _request(self, method, query, body=None, timeout=5.0):
        target = self.path + "?" + urllib.parse.urlencode(query)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers={"Content-Type": "text/xml"} if body else {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def verify_url(self, timestamp=None, nonce=None, echostr=None, tamper=False):
        ts = str(timestamp or int(time.time()))
        nonce = nonce or str(random.randint(1, 10**9))
        if self.platform == "wecom":
            plain = echostr or str(random.randint(10**17, 10**18))
            enc = encrypt(self.key, plain, self.app_id)
            sig = sha1_sorted(self.token, ts, nonce, enc)
            q = {"msg_signature": sig if not tamper else "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": enc}
            status, body = self._request("GET", q)
            return status, body, plain
        plain = echostr or str(random.randint(10**17, 10**18))
        sig = sha1_sorted(self.token, ts, nonce)
        q = {"signature": sig if not tamper else "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": plain}
        status, body = self._request("GET", q)
        return status, body, plain

    def envelope(self, xml, timestamp=None, nonce=None, encrypt_for=None, encrypted=None):
        """(query, body) as WeChat would send the plaintext message `xml`."""
        ts = str(timestamp or int(time.time()))
        nonce = nonce or str(random.randint(1, 10**9))
        plain_sig = sha1_sorted(self.token, ts, nonce)
        use_aes = encrypted if encrypted is not None else (self.platform == "wecom" or self.mode in ("compatible", "safe"))
        if not use_aes:
            return {"signature": plain_sig, "timestamp": ts, "nonce": nonce, "openid": "o"}, xml.encode()
        enc = encrypt(self.key, xml, encrypt_for or self.app_id)
        msg_sig = sha1_sorted(self.token, ts, nonce, enc)
        if self.platform == "wecom":
            body = (f"<xml><ToUserName><![CDATA[{self.app_id}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>"
                    f"<AgentID><![CDATA[1000002]]></AgentID></xml>")
            return {"msg_signature": msg_sig, "timestamp": ts, "nonce": nonce}, body.encode()
        if self.mode == "compatible":
            # Compatible mode: the plaintext fields and the Encrypt element side by side.
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>")
        else:
            body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        q = {"signature": plain_sig, "timestamp": ts, "nonce": nonce, "openid": "o", "encrypt_type": "aes",
             "msg_signature": msg_sig}
        return q, body.encode()

    def post_raw(self, query, body, timeout=5.0):
        return self._request("POST", query, body, timeout)

    def send(self, xml, timeout=5.0, retries=3):
        """Delivers like WeChat: up to `retries` more attempts when no answer came within
        `timeout`. Returns (status, reply text decoded for the user, seconds waited)."""
        query, body = self.envelope(xml)
        start = time.monotonic()
        for attempt in range(retries + 1):
            try:
                status, text = self.post_raw(query, body, timeout)
                return status, self.open_reply(text, query) if status == 200 else text, time.monotonic() - start
            except (socket.timeout, TimeoutError, ConnectionError):
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def fire_and_forget(self, xml):
        """Sends a message and hangs up without reading the answer, as WeChat does after
        5 s; returns the (query, body) so the caller can retry it byte for byte."""
        query, body = self.envelope(xml)
        target = self.path + "?" + urllib.parse.urlencode(query)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        s.close()
        return query, body

    def open_reply(self, text, query):
        """The reply as the user would see it: 'success' or the Content of the passive reply
        (after checking its signature and decrypting it in compatible/safe/WeCom mode)."""
        if text == "success" or not text.startswith("<xml>"):
            return text
        import xml.etree.ElementTree as ET

        root = ET.fromstring(text)
        enc = root.findtext("Encrypt")
        if enc is not None:
            sig = sha1_sorted(self.token, root.findtext("TimeStamp"), root.findtext("Nonce"), enc)
            assert sig == root.findtext("MsgSignature"), "the reply's MsgSignature does not verify"
            plain, rid = decrypt(self.key, enc)
            assert rid == self.app_id, f"reply encrypted for {rid}"
            root = ET.fromstring(plain)
        return root.findtext("Content")
