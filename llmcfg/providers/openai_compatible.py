"""Any OpenAI-compatible server (Ollama, vLLM, LM Studio, Groq, Together …), at the credential's base URL.

The base URL comes from the user, so every request is checked against the SSRF guard first.
"""

from .openai_shaped import OpenAIShapedProvider
from .ssrf import guard_request_url


class OpenAICompatibleProvider(OpenAIShapedProvider):
    id = "openai_compatible"
    label = "OpenAI-compatible server"

    def __init__(self, client, base_url: str, *, allow_private: bool = False):
        super().__init__(client, base_url)
        self.allow_private = allow_private

    def before_request(self, url: str) -> None:
        guard_request_url(url, self.allow_private)

    def parse_models(self, pages):
        return sorted(super().parse_models(pages), key=lambda m: m.id)
