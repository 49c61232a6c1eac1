//! Staff users of an application built on the SDK (the example server's
//! logins): roles, argon2id password hashes, and a small settings store for
//! secrets an application keeps with its database.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::validate::{EMAIL_MAX, is_email};
use crate::error::FieldErrors;
use crate::facade::Users;
use crate::json::JsonFields;
use crate::{Error, Result};

/// Password hashes computed at once (argon2id takes tens of milliseconds
/// and 19 MiB each); more wait their turn.
pub const HASHING_SLOTS: usize = 2;

/// Shortest password accepted.
pub const PASSWORD_MIN: usize = 10;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Everything, including users.
    Admin,
    /// Every customer and loyalty write, and every read.
    Manager,
    /// Reads customers, records purchases, earns and redeems.
    Cashier,
    /// Reads everything, including analytics.
    Analyst,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Cashier => "cashier",
            Role::Analyst => "analyst",
        }
    }

    /// Whether the role sees customers' contact details (email, phone,
    /// address, birthday): everyone who serves or contacts customers, not
    /// analysts ([`Customer::as_seen_by`](crate::Customer::as_seen_by)).
    pub fn sees_contact_details(self) -> bool {
        !matches!(self, Role::Analyst)
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Role::Admin, Role::Manager, Role::Cashier, Role::Analyst]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Who does an operation: a user and the role it acts in. The caps of
/// manual point operations follow the role
/// ([`ManualLimits`](crate::loyalty::program::ManualLimits)). Set by the
/// application from its own authentication, never read from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user (an email, a login, a job name).
    pub user: String,
    /// The role it acts in.
    pub role: Role,
}

/// A user (never carries the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: i64,
    /// Lower-cased email, unique.
    pub email: String,
    /// Role.
    pub role: Role,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Whether the user may log in; a disabled user's tokens stop working.
    pub active: bool,
    /// Raised by every change that ends the user's tokens (disable, enable,
    /// role change, password change or reset): a token carries the version
    /// it was issued under and is refused once the user's version moved on.
    pub token_version: i64,
}

/// Input of [`Users::create`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    /// Email (login): an email address with a dotted domain, at most 100
    /// characters; stored lower-cased.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::UserEmail))]
    pub email: String,
    /// Password, at least [`PASSWORD_MIN`] characters; only its argon2id hash is stored.
    #[cfg_attr(feature = "openapi", schema(min_length = 10))]
    pub password: String,
    /// Role.
    pub role: Role,
}

impl NewUser {
    /// Reads a new user from a JSON object, reporting every missing, mistyped
    /// or unknown field at once.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let email = r.required("email", "a string");
        let password = r.required("password", "a string");
        let role = r.require("role", "one of admin, manager, cashier, analyst");
        r.finish("user")?;
        role.map(|role| NewUser {
            email,
            password,
            role,
        })
        .ok_or_else(|| Error::invalid("role", "required", "role is required"))
    }
}

/// Input of [`Users::authenticate`]: a login.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    /// The user's email.
    pub email: String,
    /// The user's password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Reads `{"email", "password"}`, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = Self {
            email: r.required("email", "a string"),
            password: r.required("password", "a string"),
        };
        r.finish("login")?;
        Ok(out)
    }
}

/// A setting kept with the database ([`Users::setting_or_insert`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// Its name (`jwt_secret`, ...).
    pub key: String,
    /// The value to store when the setting does not exist yet.
    pub value: String,
}

/// What [`UserStore::update_user`] changes (`None` keeps the value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// Enables or disables the user.
    pub active: Option<bool>,
    /// A new role.
    pub role: Option<Role>,
    /// A new argon2id password hash.
    pub password_hash: Option<String>,
}

/// Input of [`Users::set_role`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetRole {
    /// The user.
    pub id: i64,
    /// Its new role.
    pub role: Role,
}

impl SetRole {
    /// Reads `{"role"}` for the user `id` (from the URL path).
    pub fn from_json_for(id: i64, value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let role = r.require("role", "one of admin, manager, cashier, analyst");
        r.finish("role change")?;
        role.map(|role| SetRole { id, role })
            .ok_or_else(|| Error::invalid("role", "required", "role is required"))
    }
}

/// Input of [`Users::change_password`]: a user changing its own password.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ChangePassword {
    /// The user (the caller).
    pub id: i64,
    /// Its current password, checked first.
    pub current_password: String,
    /// The new password, at least [`PASSWORD_MIN`] characters.
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ChangePassword {
    /// Reads `{"current_password", "new_password"}` for the user `id`.
    pub fn from_json_for(id: i64, value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = Self {
            id,
            current_password: r.required("current_password", "a string"),
            new_password: r.required("new_password", "a string"),
        };
        r.finish("password change")?;
        Ok(out)
    }
}

/// Input of [`Users::reset_password`]: an administrator setting a user's
/// password.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ResetPassword {
    /// The user.
    pub id: i64,
    /// The new password, at least [`PASSWORD_MIN`] characters.
    pub new_password: String,
}

impl std::fmt::Debug for ResetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPassword")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ResetPassword {
    /// Reads `{"new_password"}` for the user `id` (from the URL path).
    pub fn from_json_for(id: i64, value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = Self {
            id,
            new_password: r.required("new_password", "a string"),
        };
        r.finish("password reset")?;
        Ok(out)
    }
}

/// Whether `password` matches an argon2id `hash` (run it on the hashing pool).
fn verify(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A new password's length, as a `new_password` validation error.
fn check_new_password(password: &str) -> Result<()> {
    let mut errors = FieldErrors::new();
    check_password(&mut errors, "new_password", password);
    errors.finish()
}

fn check_password(errors: &mut FieldErrors, field: &str, password: &str) {
    if password.chars().count() < PASSWORD_MIN {
        errors.push(
            field,
            "min_length",
            format!("{field} must be at least {PASSWORD_MIN} characters"),
        );
    }
}

crate::json::json_input!(NewUser, Credentials);

/// Persistence of users and application settings.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; a taken email is a `Conflict`.
    async fn insert_user(
        &self,
        email: String,
        password_hash: String,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<User>;
    /// A user and its password hash, by email.
    async fn user_by_email(&self, email: String) -> Result<Option<(User, String)>>;
    /// Every user, by id.
    async fn users(&self) -> Result<Vec<User>>;
    /// A user and its password hash, by id.
    async fn user(&self, id: i64) -> Result<Option<(User, String)>>;
    /// Applies `change` and raises the user's `token_version` by one, in one
    /// write; `None` when the user does not exist.
    async fn update_user(&self, id: i64, change: UserChange) -> Result<Option<User>>;
    /// The value of a setting, storing `value` first if the key is absent
    /// (so concurrent first starts agree on one value).
    async fn setting_or_insert(&self, key: String, value: String) -> Result<String>;
    /// The value of a setting, if stored.
    async fn setting(&self, key: String) -> Result<Option<String>>;
    /// Stores a setting, replacing any value.
    async fn put_setting(&self, key: String, value: String) -> Result<()>;
}

impl Users {
    /// Creates a user with an argon2id hash of the password.
    pub async fn create(&self, input: NewUser) -> Result<User> {
        let mut errors = FieldErrors::new();
        let too_long = input.email.chars().count() > EMAIL_MAX;
        let email = input.email.trim().to_lowercase();
        if too_long || !is_email(&email) {
            errors.push("email", "email", "a valid email address is required");
        }
        check_password(&mut errors, "password", &input.password);
        errors.finish()?;
        let hash = self.hash(input.password).await?;
        let now = self.inner.clock.now();
        self.inner
            .store
            .insert_user(email, hash, input.role, now)
            .await
    }

    /// Checks a login; a wrong email or password is the same `Unauthorized`.
    pub async fn authenticate(&self, credentials: Credentials) -> Result<User> {
        let Credentials { email, password } = credentials;
        let found = self
            .inner
            .store
            .user_by_email(email.trim().to_lowercase())
            .await?;
        let denied = || Error::Unauthorized {
            message: "wrong email or password".into(),
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let verified = self
            .hashing(move || {
                Ok(match hash {
                    Some(hash) => verify(&password, &hash),
                    None => {
                        // Spend the same time as a real check, so timing does
                        // not reveal which emails exist.
                        let _ = Argon2::default().hash_password(password.as_bytes());
                        false
                    }
                })
            })
            .await?;
        match user {
            // A disabled user gets the same answer as a wrong password.
            Some(user) if verified && user.active => Ok(user),
            _ => Err(denied()),
        }
    }

    /// The argon2id hash of a password, computed off the async workers.
    async fn hash(&self, password: String) -> Result<String> {
        self.hashing(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| Error::storage_msg(format!("password hashing failed: {e}")))
        })
        .await
    }

    /// The user with this id.
    pub async fn get(&self, id: i64) -> Result<User> {
        self.inner
            .store
            .user(id)
            .await?
            .map(|(user, _)| user)
            .ok_or_else(|| not_found(id))
    }

    /// Disables a user: it can no longer log in and its tokens end. The
    /// last active admin cannot be disabled.
    pub async fn disable(&self, id: i64) -> Result<User> {
        let user = self.get(id).await?;
        if user.role == Role::Admin && user.active {
            self.keep_an_admin(id).await?;
        }
        self.change(
            id,
            UserChange {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
    }

    /// Enables a user again (tokens issued before it was disabled stay ended).
    pub async fn enable(&self, id: i64) -> Result<User> {
        self.change(
            id,
            UserChange {
                active: Some(true),
                ..Default::default()
            },
        )
        .await
    }

    /// Changes a user's role; its tokens (which carry the old role) end. The
    /// last active admin cannot be demoted.
    pub async fn set_role(&self, input: SetRole) -> Result<User> {
        let user = self.get(input.id).await?;
        if user.role == Role::Admin && user.active && input.role != Role::Admin {
            self.keep_an_admin(input.id).await?;
        }
        self.change(
            input.id,
            UserChange {
                role: Some(input.role),
                ..Default::default()
            },
        )
        .await
    }

    /// A user changes its own password, proving the current one; every
    /// token of the user ends (the caller logs in again).
    pub async fn change_password(&self, input: ChangePassword) -> Result<User> {
        check_new_password(&input.new_password)?;
        let (_, hash) = self
            .inner
            .store
            .user(input.id)
            .await?
            .ok_or_else(|| not_found(input.id))?;
        let current = input.current_password;
        if !self.hashing(move || Ok(verify(&current, &hash))).await? {
            return Err(Error::invalid(
                "current_password",
                "mismatch",
                "current_password is not the user's password",
            ));
        }
        self.set_password(input.id, input.new_password).await
    }

    /// An administrator sets a user's password; every token of the user ends.
    pub async fn reset_password(&self, input: ResetPassword) -> Result<User> {
        check_new_password(&input.new_password)?;
        self.get(input.id).await?;
        self.set_password(input.id, input.new_password).await
    }

    /// Stores the hash of a checked new password (raising the token version).
    async fn set_password(&self, id: i64, password: String) -> Result<User> {
        let hash = self.hash(password).await?;
        self.change(
            id,
            UserChange {
                password_hash: Some(hash),
                ..Default::default()
            },
        )
        .await
    }

    async fn change(&self, id: i64, change: UserChange) -> Result<User> {
        self.inner
            .store
            .update_user(id, change)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Fails unless an active admin other than `id` remains.
    async fn keep_an_admin(&self, id: i64) -> Result<()> {
        let others = self
            .inner
            .store
            .users()
            .await?
            .into_iter()
            .any(|u| u.id != id && u.role == Role::Admin && u.active);
        if others {
            Ok(())
        } else {
            Err(Error::conflict(
                crate::ConflictReason::LastAdmin,
                "the last active admin cannot be disabled or demoted",
            ))
        }
    }

    /// Runs password hashing on the blocking pool, at most
    /// [`HASHING_SLOTS`] at once: a flood of logins queues here instead of
    /// occupying the async workers that serve every other request.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _slot = self
            .inner
            .hashing
            .acquire()
            .await
            .map_err(|e| Error::storage("password hashing is shut down", e))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::storage("password hashing stopped", e))?
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>> {
        self.inner.store.users().await
    }

    /// A setting kept with the database, created with `value` on first use.
    pub async fn setting_or_insert(&self, setting: Setting) -> Result<String> {
        self.inner
            .store
            .setting_or_insert(setting.key, setting.value)
            .await
    }
}

fn not_found(id: i64) -> Error {
    Error::NotFound {
        entity: "user",
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// On a single-threaded runtime, other tasks keep running while
    /// passwords are hashed (the hashing is off the async worker).
    #[test]
    fn logins_do_not_block_the_async_worker() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let crm = crate::Crm::new(MemoryStore::new());
            crm.users()
                .create(NewUser {
                    email: "kasir@toko.id".into(),
                    password: "a long enough password".into(),
                    role: Role::Cashier,
                })
                .await
                .expect("user");
            let ticks = std::sync::Arc::new(AtomicU64::new(0));
            let ticker = tokio::spawn({
                let ticks = ticks.clone();
                async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        ticks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let started = std::time::Instant::now();
            let mut logins = Vec::new();
            for i in 0..6 {
                let users = crm.users();
                logins.push(tokio::spawn(async move {
                    users
                        .authenticate(Credentials {
                            email: "kasir@toko.id".into(),
                            password: if i % 2 == 0 {
                                "a long enough password".into()
                            } else {
                                "wrong".into()
                            },
                        })
                        .await
                        .is_ok()
                }));
            }
            let mut ok = 0;
            for l in logins {
                ok += usize::from(l.await.expect("login"));
            }
            let busy_ms = started.elapsed().as_millis() as u64;
            ticker.abort();
            assert_eq!(ok, 3);
            // A ticker starved by inline hashing ticks a handful of times;
            // a free one ticks about once per millisecond (timer
            // granularity), so ask for a fifth of that.
            let ticked = ticks.load(Ordering::Relaxed);
            assert!(
                ticked >= busy_ms / 5,
                "{ticked} ticks in {busy_ms} ms of hashing"
            );
        });
    }
}
