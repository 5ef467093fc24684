//! Conditional creates: a PUT sent with `If-None-Match: *`, which ARM refuses with 412
//! `PreconditionFailed` when the resource exists (the ARM RPC's ETag table; the resource
//! provider checks it, for the resource types that keep ETags — see
//! [`crate::resources::ArmResource::CREATE_ONLY`]).
//!
//! Why: before creating, azop must know that nothing of that name exists — a PUT over a
//! resource someone made since the subscription's listing was walked would take it over.
//! Reading it by GET first costs a read per created resource; the condition makes the PUT
//! itself the check, at no read, and ARM answers 412 (nothing written) in the rare case
//! something is there.
//!
//! The generated azure_mgmt builders cannot carry the header for most types (their specs do
//! not declare it), so it is added by the transport ([`crate::arm::ArmTransport`]) to every
//! PUT sent inside [`scope`], which also learns whether ARM answered 412 — a typed answer,
//! not an error message to parse.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    /// Set while a conditional create is under way: whether ARM answered 412.
    static EXISTED: Cell<bool>;
}

/// Runs `send` with every PUT it sends made conditional (`If-None-Match: *`); returns its
/// output and whether ARM refused a PUT because the resource existed (412).
pub async fn scope<F: Future>(send: F) -> (F::Output, bool) {
    EXISTED
        .scope(Cell::new(false), async move {
            let out = send.await;
            let existed = EXISTED.try_with(Cell::get).unwrap_or(false);
            (out, existed)
        })
        .await
}

/// Whether the request being sent belongs to a conditional create (the transport adds
/// `If-None-Match: *` to its PUT).
pub(crate) fn active() -> bool {
    EXISTED.try_with(|_| ()).is_ok()
}

/// ARM answered the conditional PUT 412: the resource exists.
pub(crate) fn note_existed() {
    let _ = EXISTED.try_with(|c| c.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_requests_inside_the_scope_are_conditional_and_a_412_is_reported() {
        assert!(!active(), "outside a scope nothing is conditional");
        let (seen, existed) = scope(async { active() }).await;
        assert!(seen);
        assert!(!existed, "no 412: created");
        let ((), existed) = scope(async { note_existed() }).await;
        assert!(existed, "a 412 is reported to the caller");
        // Noting outside a scope is harmless.
        note_existed();
        assert!(!active());
    }
}
