//! `sqlx::migrate!` embeds `migrations/postgres` and `migrations/sqlite` at compile time; a new migration file must
//! rebuild the crate, which cargo only knows when told.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
