"""How to reach one Webex Campaign tenant (reconciler.yaml's `providers.webex_campaign`),
and the limits and wire format its settings fix: read by the client, the datastore kind
and the provider alike."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reconciler.providers.base import ProviderSettings

MEDIA_TYPE = "application/json"
HARD_MAX_RECORDS = 100_000
"""The most `max_records` may be raised to: the schema refuses more whatever the settings."""
HARD_MAX_RECORD_BYTES = 65_536
"""The most `max_record_bytes` may be raised to."""


class WebexCampaignSettings(ProviderSettings):
    """How to reach one Webex Campaign tenant; the API key comes from an environment variable."""

    base_url: str = Field(description=(
        "API hub root, https://<apihub>/v1 (purposes); it depends on the login domain"))
    tenant_url: str = Field(description=(
        "Tenant API root, https://<tenant>.webexcampaign.io/campaignapi/resources/v3 "
        "(datastore records, transaction notifications)"))
    client_id: str | None = Field(None, description=(
        "Client-credentials flow: the clientId Webex Campaign support gives; with "
        "client_secret and auth_key, an access token is minted at the start of a run and "
        "renewed when it expires (498); from an environment variable"))
    client_secret: str | None = Field(None, description=(
        "Client-credentials flow: the clientSecret; from an environment variable"))
    auth_key: str | None = Field(None, description=(
        "Client-credentials flow: the authorization key sent as `Authorization: Basic` to "
        "the token endpoint; from an environment variable"))
    token_path: str = Field("/oauth/token", pattern=r"^/", description=(
        "Client-credentials flow: the token endpoint under tenant_url "
        "(?grant_type=client_credentials is added)"))
    token: str | None = Field(None, min_length=1, validate_default=True, description=(
        "API secret key (or a ready access token), sent as Bearer; from an environment "
        "variable such as WEBEX_CAMPAIGN_TOKEN. Not needed with client_id, client_secret "
        "and auth_key"))
    datastore_path: str = Field("/datastore/records", pattern=r"^/", description=(
        "Path of the add-records API under tenant_url (the vendor documents no path: take it "
        "from your tenant's Postman collection)"))
    notify_path: str = Field("/notifytransactionstate", pattern=r"^/", description=(
        "Path of the Notify Transaction State API under tenant_url"))
    forget_undeletable: bool = Field(False, description=(
        "Purposes removed from the manifests are only removed from state (Webex Campaign has "
        "no delete API); without it such a plan is refused"))
    max_records: int = Field(10_000, ge=1, le=HARD_MAX_RECORDS, description=(
        "Most records in one datastore_records entry"))
    max_record_bytes: int = Field(4096, ge=16, le=HARD_MAX_RECORD_BYTES, description=(
        "Most bytes of one record, as compact UTF-8 JSON"))
    batch_size: int = Field(1000, ge=1, le=HARD_MAX_RECORDS, description=(
        "Most records in one add-records request: an entry is sent in batches of this size"))
    datastore_metadata: str | None = Field(None, description=(
        "Root of the datastore-attributes API, e.g. https://<tenant>.webexcampaign.io/"
        "campaignapi/metadata/v3/datastore (the datastore id is added); when set, record "
        "fields are checked against the datastore's columns and max-length before a push"))
    notify_deployment_id: str | None = Field(None, description=(
        "Report each apply's outcome to this External Action deployment (Notify Transaction "
        "State); same as apply --notify-webex-deployment"))
    notify_ref_trans_id: str | None = Field(None, description=(
        "The transaction id Webex Campaign gave the External Action run, usually "
        "${WEBEX_REF_TRANS_ID}; same as apply --notify-webex-transaction"))

    @field_validator("token")
    @classmethod
    def _one_credential(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A static key, or the three client-credential settings: found before any call."""
        given = [n for n in ("client_id", "client_secret", "auth_key") if info.data.get(n)]
        if given and len(given) < 3:
            missing = sorted({"client_id", "client_secret", "auth_key"} - set(given))
            raise PydanticCustomError("missing_credential", (
                f"the client-credentials flow needs client_id, client_secret and auth_key; "
                f"{' and '.join(missing)} missing"))
        if value is None and not given:
            raise PydanticCustomError("missing_credential", (
                "set token (an API secret key, e.g. ${WEBEX_CAMPAIGN_TOKEN}), or client_id, "
                "client_secret and auth_key for client-credentials tokens"))
        return value

    @property
    def client_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret and self.auth_key)

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.client_secret, self.auth_key) if v]

    def headers(self) -> dict[str, str]:
        """Static headers; a client-credentials token is added by the TokenClient."""
        headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        if self.token and not self.client_credentials:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def forgets_undeletable(self) -> bool:
        return self.forget_undeletable
