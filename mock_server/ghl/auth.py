"""Tokens, scopes and OAuth grants. HTTP-free: the API layer maps AuthFailure to 401/403."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.clock import SandboxClock
from mock_server.errors import NotFound
from mock_server.ghl.models import PAYMENTS_SCOPES, TOKEN_CLASSES, TOKEN_TYPES, App, Grant, Token
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
    app: App


class AuthService:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
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
        token = issue_token(self.ids, location_id=location_id, company_id=location.company_id,
                            app_id=app_id or (app.id if app else ""),
                            scopes=list(PAYMENTS_SCOPES if scopes is None else scopes), token_class=token_class,
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
                token_class, scopes = grant.token_class, grant.scopes
            elif grant_type == "client_credentials":
                token_class = "agency" if user_type == "Company" else "location"
                locations = self.store.table(Location).all()
                if location_id:
                    location = self.store.table(Location).get(location_id)
                    if location is None:
                        raise OAuthFailure(400, "invalid_request", f"Unknown locationId {location_id}")
                elif locations:
                    location = locations[0]
                else:
                    raise OAuthFailure(400, "invalid_request", "No location installed")
                location_id, company_id, scopes = location.id, location.company_id, list(PAYMENTS_SCOPES)
            else:
                raise OAuthFailure(422, "unsupported_grant_type",
                                   "grant_type must be one of the following values: "
                                   "authorization_code, refresh_token, client_credentials")
            token_id = self.ids.object_id()
            claims = token_claims(token_class, location_id, company_id, app.id, token_id, now,
                                  now + ACCESS_TOKEN_SECONDS)
            token = Token(id=token_id, secret=fake_jwt(self.ids, claims), location_id=location_id,
                          company_id=company_id, app_id=app.id, token_class=token_class, token_type="oauth",
                          scopes=list(scopes), created_at=now, expires_at=now + ACCESS_TOKEN_SECONDS,
                          user_id=self.ids.short_id())
            refresh = Grant(id=self.ids.token("rt-"), kind="refresh", app_id=app.id, location_id=location_id,
                            company_id=company_id, token_class=token_class, scopes=list(scopes),
                            expires_at=now + REFRESH_TOKEN_SECONDS)
            self.store.table(Token).put(token)
            self.store.table(Grant).put(refresh)
        return TokenGrant(token=token, refresh_token=refresh.id, app=app)
