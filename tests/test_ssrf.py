"""The openai-compatible base URL cannot reach internal addresses (unless explicitly allowed)."""

import socket

import pytest

from llmcfg.providers import base as R
from llmcfg.providers import build_http_client, provider_for
from llmcfg.providers.base import ChatTarget, Credential, ProviderError
from llmcfg.providers.ssrf import validate_base_url
from tests.fakes.plugin import Behavior, add_credential, bearer_headers

PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch):
    """Answer DNS from a dict (host → list of IPs), like a resolver an attacker controls."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = lambda ip: socket.AF_INET6 if ":" in ip else socket.AF_INET  # noqa: E731
            return [(family(ip), socket.SOCK_STREAM, 6, "", (ip, port or 0)) for ip in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return answers


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:8000/v1",
        "http://10.1.2.3/v1",
        "http://172.16.0.9/v1",
        "http://192.168.1.20:1234/v1",
        "http://[::1]:8000/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0:8000/v1",
        "http://100.64.0.7/v1",  # shared (carrier-grade NAT) space
        "http://224.0.0.1/v1",
        "http://2130706433/v1",  # 127.0.0.1 written as one number
        "http://169.254.10.10/v1",
    ],
)
def test_private_and_local_addresses_are_refused(url):
    with pytest.raises(ValueError, match="private or local|metadata"):
        validate_base_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://metadata.google.internal/v1"]
)
def test_cloud_metadata_is_refused_even_when_private_addresses_are_allowed(url):
    with pytest.raises(ValueError, match="metadata"):
        validate_base_url(url, allow_private=True)


def test_private_addresses_are_allowed_only_with_the_setting():
    assert validate_base_url("http://127.0.0.1:11434/v1/", allow_private=True) == "http://127.0.0.1:11434/v1"


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://example.com/v1", "http:// or https://"),
        ("https:///v1", "name a host"),
        ("example.com/v1", "http://"),
        ("https://user:pw@example.com/v1", "user name or password"),
        ("https://example.com/v1?x=1", "query string"),
    ],
)
def test_malformed_base_urls_are_refused_in_plain_words(url, words):
    with pytest.raises(ValueError, match=words):
        validate_base_url(url, allow_private=True)


def test_a_host_is_refused_when_any_of_its_addresses_is_private(dns):
    dns["mixed.example"] = [PUBLIC_IP, "10.0.0.8"]
    dns["public.example"] = [PUBLIC_IP]
    with pytest.raises(ValueError, match="10.0.0.8"):
        validate_base_url("https://mixed.example/v1", allow_private=False)
    assert validate_base_url("https://public.example/v1", allow_private=False) == "https://public.example/v1"


def test_the_address_is_checked_again_at_request_time(dns, fake_upstream):
    """DNS rebinding: public when the form checked it, loopback when the request goes out."""
    port = fake_upstream.port
    dns["rebind.example"] = [PUBLIC_IP]
    base_url = validate_base_url(f"http://rebind.example:{port}/compat/v1", allow_private=False)
    dns["rebind.example"] = ["127.0.0.1"]
    credential = Credential("openai_compatible", "sk-x", base_url=base_url)
    adapter = provider_for(credential, base_urls={}, allow_private=False, client=build_http_client(1, 1))
    with pytest.raises(ProviderError) as caught:
        list(
            adapter.stream_chat(
                ChatTarget(1, "c", "openai_compatible", "llama3.2:3b", credential), [{"role": "user", "content": "hi"}]
            )
        )
    assert (caught.value.reason, caught.value.fallback) == (R.BLOCKED_URL, False)
    with pytest.raises(ProviderError):
        adapter.list_models(credential)
    assert fake_upstream.count() == 0


def test_redirects_are_not_followed(fake_upstream):
    fake_upstream.script_path(
        "openai_compatible", "/models", Behavior.redirect(fake_upstream.base_urls["openai"] + "/models")
    )
    credential = Credential("openai_compatible", "sk-x", base_url=fake_upstream.base_urls["openai_compatible"])
    adapter = provider_for(credential, base_urls={}, allow_private=True, client=build_http_client(1, 1))
    with pytest.raises(ProviderError) as caught:
        adapter.list_models(credential)
    assert caught.value.status == 307
    assert fake_upstream.count("openai") == 0  # the redirect target never saw the key


def test_catalog_endpoint_refuses_a_private_base_url_without_calling_it(fake_app, fake_upstream, client, orgs):
    fake_app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] = False
    headers = bearer_headers(orgs[0].admin)
    response = client.post(
        "/api/admin/llm-providers/openai_compatible/models",
        headers=headers,
        json={"api_key": "sk-local", "base_url": fake_upstream.base_urls["openai_compatible"]},
    )
    assert response.status_code == 400
    assert "LLMCFG_ALLOW_PRIVATE_BASE_URLS" in response.get_json()["error"]
    assert fake_upstream.count() == 0


def test_catalog_endpoint_refuses_the_saved_private_url_once_the_setting_is_off(fake_app, fake_upstream, client, orgs):
    row = add_credential(orgs[0].org, "openai_compatible", fake=fake_upstream)
    headers = bearer_headers(orgs[0].admin)
    fake_app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] = False
    response = client.get(f"/api/admin/llm-providers/openai_compatible/models?credential_id={row.id}", headers=headers)
    assert response.status_code == 400 and response.get_json()["reason"] == R.BLOCKED_URL
    assert fake_upstream.count() == 0
