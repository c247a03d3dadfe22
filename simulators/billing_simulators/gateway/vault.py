"""transact.php Customer Vault operations: add, update, delete."""

from __future__ import annotations

from .payments import Form, payment_data
from .replies import APPROVED, Reply, rejected
from .state import SimState


def vault_operation(state: SimState, form: Form, operation: str) -> Reply:
    vault_id = form.get("customer_vault_id", "")
    if operation == "add_customer":
        if vault_id and vault_id in state.vault:
            return rejected("Duplicate Customer Vault Id")
        method = payment_data(state, form, allow_vault=False)
        if method is None:
            return rejected("Payment information is required")
        if isinstance(method, Reply):
            return method
        vault_id = vault_id or state.new_vault_id()
        state.vault[vault_id] = method
        return Reply(APPROVED, "Customer Added", 100, customer_vault_id=vault_id)
    if vault_id not in state.vault:
        return rejected("Invalid Customer Vault Id")
    if operation == "update_customer":
        method = payment_data(state, form, allow_vault=False)
        if isinstance(method, Reply):
            return method
        if method is not None:
            state.vault[vault_id] = method
        return Reply(APPROVED, "Customer Update Successful", 100, customer_vault_id=vault_id)
    if operation == "delete_customer":
        del state.vault[vault_id]
        return Reply(APPROVED, "Customer Deleted", 100, customer_vault_id=vault_id)
    return rejected("Invalid Customer Vault operation")
