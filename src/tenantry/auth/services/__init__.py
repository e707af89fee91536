"""The logic of the core ``/api/auth`` endpoints as typed functions, one module per endpoint module.

The endpoints (``tenantry.auth.endpoints``) read and check a request's body as Better Auth does,
call one of these and shape the answer; the web pages parse their forms and call the same
functions, so the rules, audit rows and e-mails are the same whichever door an action comes in by.
Each module names its actions by their ``/api/auth`` paths (``SIGN_IN``): what rate limits count
and plugins' action checks look at (``AuthGuard``).
"""
