"""OpenAI (api.openai.com): Bearer key, the OpenAI wire format, `GET /models/{id}` for one model."""

from urllib.parse import quote

from .base import Credential
from .openai_shaped import OpenAIShapedProvider


class OpenAIProvider(OpenAIShapedProvider):
    id = "openai"
    label = "OpenAI"
    # Newer OpenAI models refuse max_tokens on chat completions; this is the field they accept.
    max_tokens_field = "max_completion_tokens"

    def parse_models(self, pages):
        return sorted(super().parse_models(pages), key=lambda m: m.id)

    def verify_model(self, credential: Credential, model: str) -> str:
        url = self.url(f"{self.models_path}/{quote(model, safe='')}")
        self.get_json(url, self.auth_headers(credential), secret=credential.api_key)
        return f"“{model}” is available to this key."
