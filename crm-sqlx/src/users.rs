//! The user and settings store for both engines (same macro scheme as
//! `customers.rs`).

/// Generates `UserStore` for an engine.
macro_rules! impl_user_store {
    ($store:ident) => {
        mod users_impl {
            use super::*;
            use crm_core::users::{Role, User, UserChange, UserStore};
            use crm_core::{Error, Result};
            use sqlx::Row;
            use $crate::error::{corrupt, db_err, is_unique_violation};

            const USER_COLUMNS: &str = "id, email, password_hash, role, created_at, is_active, token_version";

            fn user_from_row(row: &DbRow) -> Result<(User, String)> {
                let role: String = row.try_get("role").map_err(db_err)?;
                Ok((
                    User {
                        id: row.try_get("id").map_err(db_err)?,
                        email: row.try_get("email").map_err(db_err)?,
                        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
                        created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                        active: row.try_get("is_active").map_err(db_err)?,
                        token_version: row.try_get("token_version").map_err(db_err)?,
                    },
                    row.try_get("password_hash").map_err(db_err)?,
                ))
            }

            #[async_trait::async_trait]
            impl UserStore for $store {
                async fn insert_user(&self, email: String, password_hash: String, role: Role, now: chrono::DateTime<chrono::Utc>) -> Result<User> {
                    let done = sqlx::query("INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)")
                        .bind(email.clone())
                        .bind(password_hash)
                        .bind(role.as_str())
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await
                        .map_err(|e| {
                            if is_unique_violation(&e) {
                                Error::conflict(crm_core::ConflictReason::AlreadyExists, format!("user {email} already exists"))
                            } else {
                                db_err(e)
                            }
                        })?;
                    Ok(User { id: last_insert_id(&done), email, role, created_at: now, active: true, token_version: 0 })
                }

                async fn user_by_email(&self, email: String) -> Result<Option<(User, String)>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?")))
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(|r| user_from_row(&r))
                        .transpose()
                }

                async fn users(&self) -> Result<Vec<User>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY id")))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(|r| user_from_row(r).map(|(u, _)| u))
                        .collect()
                }

                async fn user(&self, id: i64) -> Result<Option<(User, String)>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?")))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(|r| user_from_row(&r))
                        .transpose()
                }

                async fn update_user(&self, id: i64, change: UserChange) -> Result<Option<User>> {
                    let done = sqlx::query(
                        "UPDATE users SET is_active = COALESCE(?, is_active), role = COALESCE(?, role), \
                         password_hash = COALESCE(?, password_hash), token_version = token_version + 1 WHERE id = ?",
                    )
                    .bind(change.active)
                    .bind(change.role.map(Role::as_str))
                    .bind(change.password_hash)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    Ok(self.user(id).await?.map(|(user, _)| user))
                }

                async fn setting(&self, key: String) -> Result<Option<String>> {
                    sqlx::query_scalar("SELECT setting_value FROM app_settings WHERE setting_key = ?")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)
                }

                async fn put_setting(&self, key: String, value: String) -> Result<()> {
                    sqlx::query(sqlx::AssertSqlSafe(UPSERT_SETTING))
                        .bind(key)
                        .bind(value)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn setting_or_insert(&self, key: String, value: String) -> Result<String> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{INSERT_IGNORE} INTO app_settings (setting_key, setting_value) VALUES (?, ?)"
                    )))
                    .bind(key.clone())
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    sqlx::query_scalar("SELECT setting_value FROM app_settings WHERE setting_key = ?")
                        .bind(key)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)
                }
            }
        }
    };
}
