"""Authorization: roles granted on scopes, named permissions, and the policy that decides with them."""
