"""Tokens, scopes and OAuth grants. HTTP-free: the API layer maps AuthFailure to 401/403."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.clock import SandboxClock
from mock_server.errors import NotFound
from mock_server.ghl import users
from mock_server.ghl.models import (
    OAUTH_SCOPES,
    PAYMENTS_SCOPES,
    TOKEN_CLASSES,
    TOKEN_TYPES,
    App,
    Grant,
    Token,
    TokenClass,
)
from mock_server.ghl.seed import fake_jwt, issue_token, token_claims
from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.store import Condition, Store

ACCESS_TOKEN_SECONDS = 86399
REFRESH_TOKEN_SECONDS = 365 * 86400
CODE_SECONDS = 600

INVALID_TOKEN = "Invalid token: access token is invalid"
EXPIRED_TOKEN = "Invalid token: access token is expired"
WRONG_CLASS = "Token's user type mismatch!"
MISSING_SCOPE = "The token is not authorized for this scope."
WRONG_LOCATION = "The token does not have access to this location."
# An OAuth Company token on a sub-account scope (reference §1.2, as measured publicly; an agency PIT gets WRONG_CLASS).
AUTH_CLASS_NOT_ALLOWED = ("This authClass type is not allowed to access this scope. "
                          "Please verify your IAM configuration if this is not the case.")
WRONG_COMPANY = "The token does not have access to this company."
LOCATION_NOT_INSTALLED = "Location not found or the app is not installed in it"


class AuthFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OAuthFailure(Exception):
    """A refused token exchange: `error` is the OAuth error code, `status` the HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class TokenGrant:
    token: Token
    refresh_token: str
    app: App | None


def with_oauth_scopes(scopes: list[str]) -> list[str]:
    """A Company token's scopes: what was granted plus `oauth.readonly` and `oauth.write`."""
    return list(dict.fromkeys([*scopes, *OAUTH_SCOPES]))


class AuthService:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory, seed: int = 0) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.seed = seed
        self._by_secret: dict[str, Token] = {}  # emptied by on_store_write, which the runtime calls

    def on_store_write(self, kind: str) -> None:
        if kind == "tokens":
            self._by_secret.clear()

    # ---- bearer tokens ------------------------------------------------------------------------

    def lookup(self, secret: str) -> Token | None:
        token = self._by_secret.get(secret)
        if token is None:
            token = self.store.table(Token).find_one("secret", secret)
            if token is None:
                return None
            self._by_secret[secret] = token
        return token

    def authenticate(self, secret: str) -> Token:
        token = self.lookup(secret) if secret else None
        if token is None or token.revoked:
            raise AuthFailure(401, INVALID_TOKEN)
        if token.expires_at is not None and self.clock.now() >= token.expires_at:
            raise AuthFailure(401, EXPIRED_TOKEN)
        return token

    @staticmethod
    def authorize(token: Token, scope: str, token_class: str = "location") -> None:
        if token.token_class != token_class:
            # GHL's IAM refuses an OAuth Company token by its authClass; PITs and location tokens by user type.
            if token.token_class == "agency" and token.token_type == "oauth":
                raise AuthFailure(401, AUTH_CLASS_NOT_ALLOWED)
            raise AuthFailure(401, WRONG_CLASS)
        if scope and scope not in token.scopes:  # "" : any token of the class (Location-Access, no scope)
            raise AuthFailure(401, MISSING_SCOPE)

    @staticmethod
    def check_location(token: Token, location_id: str) -> None:
        if token.token_class == "location" and token.location_id != location_id:
            raise AuthFailure(403, WRONG_LOCATION)

    def issue(self, location_id: str, scopes: list[str] | None = None, token_class: str = "location",
              token_type: str = "oauth", expires_in: float | None = None, app_id: str | None = None) -> Token:
        location = self.store.table(Location).get(location_id)
        if location is None:
            raise ValueError(f"unknown location {location_id}")
        if token_class not in TOKEN_CLASSES:
            raise ValueError(f"tokenClass must be one of {', '.join(TOKEN_CLASSES)}")
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"tokenType must be one of {', '.join(TOKEN_TYPES)}")
        app = self.app()
        now = self.clock.now()
        if scopes is None:
            scopes = with_oauth_scopes(list(PAYMENTS_SCOPES)) if (token_class, token_type) == ("agency", "oauth") \
                else list(PAYMENTS_SCOPES)
        token = issue_token(self.ids, location_id=location_id, company_id=location.company_id,
                            app_id=app_id or (app.id if app else ""), scopes=list(scopes), token_class=token_class,
                            token_type=token_type, created_at=now,
                            expires_at=None if expires_in is None else now + expires_in)
        self.store.table(Token).put(token)
        return token

    def revoke(self, secret_or_id: str) -> Token | None:
        token = self.lookup(secret_or_id) or self.store.table(Token).get(secret_or_id)
        if token is None:
            return None
        token.revoked = True
        self.store.table(Token).put(token)
        return token

    def tokens_of(self, location_id: str) -> list[Token]:
        return self.store.table(Token).all([Condition("location_id", "=", location_id)])

    # ---- OAuth --------------------------------------------------------------------------------

    def app(self) -> App | None:
        apps = self.store.table(App).all(order="")
        return apps[0] if apps else None

    def app_by_client(self, client_id: str) -> App | None:
        return self.store.table(App).find_one("client_id", client_id)

    def app_by_id(self, app_id: str) -> App | None:
        return self.store.table(App).get(app_id)

    def user_id(self, app_id: str, location_id: str, company_id: str) -> str:
        """The user of one installation, so every code exchange, refresh, client_credentials and
        locationToken of it answers the same: on a location, the location's owner (the same id the
        location's records carry in createdBy/canceledBy); on a company, derived from the world's seed."""
        if location_id:
            return users.owner(location_id)
        return IdFactory(f"user-{self.seed}-{app_id}-{company_id}").short_id()

    def installed_locations(self, company_id: str) -> list[Location]:
        """The company's locations the app is installed in: in the sandbox, every location of the company."""
        return [loc for loc in self.store.table(Location).all(order="") if loc.company_id == company_id]

    def authorization_code(self, client_id: str, location_id: str, scopes: list[str] | None,
                           user_type: str = "Location") -> Grant:
        app = self.app_by_client(client_id)
        if app is None:
            raise NotFound(f"unknown clientId {client_id}")
        location = self.store.table(Location).get(location_id)
        if location is None:
            raise NotFound(f"unknown location {location_id}")
        grant = Grant(id=self.ids.object_id() + self.ids.object_id()[:16], kind="code", app_id=app.id,
                      location_id=location_id, company_id=location.company_id,
                      token_class="agency" if user_type == "Company" else "location",
                      scopes=list(PAYMENTS_SCOPES if scopes is None else scopes),
                      expires_at=self.clock.now() + CODE_SECONDS)
        self.store.table(Grant).put(grant)
        return grant

    def exchange(self, *, client_id: str, client_secret: str, grant_type: str, code: str | None,
                 refresh_token: str | None, user_type: str | None, location_id: str | None) -> TokenGrant:
        """POST /oauth/token: codes and refresh tokens are single use; refresh tokens rotate."""
        app = self.app_by_client(client_id)
        if app is None or app.client_secret != client_secret:
            raise OAuthFailure(401, "invalid_client", "Invalid client credentials")
        now = self.clock.now()
        with self.store.transaction():
            if grant_type in ("authorization_code", "refresh_token"):
                value = code if grant_type == "authorization_code" else refresh_token
                kind = "code" if grant_type == "authorization_code" else "refresh"
                field = "code" if kind == "code" else "refresh_token"
                if not value:
                    raise OAuthFailure(422, "invalid_request", f"{field} should not be empty")
                grant = self.store.table(Grant).get(value)
                if grant is None or grant.kind != kind or grant.app_id != app.id:
                    raise OAuthFailure(401, "invalid_grant", f"Invalid {field.replace('_', ' ')}")
                if grant.used:
                    raise OAuthFailure(401, "invalid_grant", f"This {field.replace('_', ' ')} has already been used")
                if now >= grant.expires_at:
                    raise OAuthFailure(401, "invalid_grant", f"This {field.replace('_', ' ')} has expired")
                grant.used = True
                self.store.table(Grant).put(grant)
                location_id, company_id = grant.location_id, grant.company_id
                token_class, scopes, user_id = grant.token_class, grant.scopes, grant.user_id
            elif grant_type == "client_credentials":
                token_class = "agency" if user_type == "Company" else "location"
                locations = self.store.table(Location).all()
                user_id = ""
                if token_class == "agency":
                    location_id = None  # a Company token is for the app's company, whatever location was named
                if location_id:
                    location = self.store.table(Location).get(location_id)
                    if location is None:
                        raise OAuthFailure(400, "invalid_request", f"Unknown locationId {location_id}")
                elif locations:
                    location = locations[0]
                else:
                    raise OAuthFailure(400, "invalid_request", "No location installed")
                location_id, company_id, scopes = location.id, location.company_id, list(PAYMENTS_SCOPES)
                if token_class == "agency":
                    company_id = app.company_id
            else:
                raise OAuthFailure(422, "unsupported_grant_type",
                                   "grant_type must be one of the following values: "
                                   "authorization_code, refresh_token, client_credentials")
            if token_class == "agency":  # a Company token: for the company, no location; it may mint location tokens
                location_id, scopes = "", with_oauth_scopes(scopes)
            user_id = user_id or self.user_id(app.id, location_id, company_id)
            token, refresh = self._mint(app.id, location_id, company_id, token_class, scopes, user_id)
        return TokenGrant(token=token, refresh_token=refresh.id, app=app)

    def _mint(self, app_id: str, location_id: str, company_id: str, token_class: TokenClass, scopes: list[str],
              user_id: str) -> tuple[Token, Grant]:
        """A new OAuth access token and its refresh token (inside the caller's transaction)."""
        now = self.clock.now()
        token_id = self.ids.object_id()
        claims = token_claims(token_class, location_id, company_id, app_id, token_id, now, now + ACCESS_TOKEN_SECONDS)
        token = Token(id=token_id, secret=fake_jwt(self.ids, claims), location_id=location_id,
                      company_id=company_id, app_id=app_id, token_class=token_class, token_type="oauth",
                      scopes=list(scopes), created_at=now, expires_at=now + ACCESS_TOKEN_SECONDS, user_id=user_id)
        refresh = Grant(id=self.ids.token("rt-"), kind="refresh", app_id=app_id, location_id=location_id,
                        company_id=company_id, token_class=token_class, scopes=list(scopes),
                        expires_at=now + REFRESH_TOKEN_SECONDS, user_id=user_id)
        self.store.table(Token).put(token)
        self.store.table(Grant).put(refresh)
        return token, refresh

    def location_token(self, company_token: Token, company_id: str, location_id: str) -> TokenGrant:
        """POST /oauth/locationToken: a Company token (already authorised for `oauth.write`) mints a
        location token of the same app for one of the company's locations where the app is installed."""
        if company_id != company_token.company_id:
            raise OAuthFailure(403, "Forbidden", WRONG_COMPANY)
        if location_id not in {loc.id for loc in self.installed_locations(company_id)}:
            raise OAuthFailure(400, "Bad Request", LOCATION_NOT_INSTALLED)
        app = self.app_by_id(company_token.app_id)
        with self.store.transaction():
            token, refresh = self._mint(company_token.app_id, location_id, company_id, "location",
                                        list(company_token.scopes),
                                        self.user_id(company_token.app_id, location_id, company_id))
        return TokenGrant(token=token, refresh_token=refresh.id, app=app)
