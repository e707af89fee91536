// Passkeys in the browser: WebAuthn ceremonies with navigator.credentials, verified by the server's
// /api/auth/passkey/* endpoints (Better Auth's passkey protocol). Options and answers cross the wire
// as JSON with binary fields in base64url, as @simplewebauthn/browser sends them.
(function () {
  "use strict";
  // The account section is loaded (and reloaded) by htmx, which runs its script tag each time.
  if (window.tenantryPasskeys) return;
  window.tenantryPasskeys = true;
  var API = "/api/auth/passkey/";

  function toBuffer(value) {
    var text = value.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) text += "=";
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A same-origin call with the session cookie; a refusal becomes an Error carrying the server's code.
  function call(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { accept: "application/json" } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.message) || "The server refused (" + response.status + ").");
          error.code = data && data.code;
          throw error;
        }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return { type: c.type || "public-key", id: toBuffer(c.id), transports: c.transports }; });
  }

  function creationOptions(options) {
    var publicKey = Object.assign({}, options, {
      challenge: toBuffer(options.challenge),
      user: Object.assign({}, options.user, { id: toBuffer(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
    delete publicKey.hints; // not every browser knows it; an empty list changes nothing
    return publicKey;
  }

  function requestOptions(options) {
    var publicKey = Object.assign({}, options, { challenge: toBuffer(options.challenge) });
    if (options.allowCredentials) publicKey.allowCredentials = descriptors(options.allowCredentials);
    return publicKey;
  }

  // A credential as JSON: what both ceremonies send, around the ceremony's own response fields.
  function credentialJSON(credential, response) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: Object.assign({ clientDataJSON: toBase64url(credential.response.clientDataJSON) }, response),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function registrationJSON(credential) {
    var r = credential.response;
    return credentialJSON(credential, {
      attestationObject: toBase64url(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    });
  }

  function authenticationJSON(credential) {
    var r = credential.response;
    return credentialJSON(credential, {
      authenticatorData: toBase64url(r.authenticatorData),
      signature: toBase64url(r.signature),
      userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined,
    });
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") return "The passkey prompt was closed or timed out. Try again.";
    if (error && error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    if (error && error.code === "PREVIOUSLY_REGISTERED") return "This passkey is already registered.";
    if (error && error.code === "PASSKEY_NOT_FOUND") return "This site does not know that passkey. Sign in with your password and add it again.";
    return (error && error.message) || "That did not work. Try again.";
  }

  function supported() {
    return window.PublicKeyCredential && navigator.credentials && navigator.credentials.create;
  }

  function idle(button) {
    if (!button) return;
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }

  // Account page: add a passkey, then reload the section so the new one is listed.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-passkey-register]");
    if (!form) return;
    event.preventDefault();
    var section = form.closest("[data-passkey-section]");
    var status = section && section.querySelector("[data-passkey-status]");
    var button = form.querySelector("button");
    var say = function (text) { if (status) status.textContent = text; };
    if (!supported()) { say("This browser cannot use passkeys."); return; }
    var name = (form.elements.name && form.elements.name.value.trim()) || undefined;
    say("Follow your browser's prompt to create the passkey…");
    call("GET", "generate-register-options")
      .then(function (options) { return navigator.credentials.create({ publicKey: creationOptions(options) }); })
      .then(function (credential) { return call("POST", "verify-registration", { response: registrationJSON(credential), name: name }); })
      .then(function () {
        if (window.tenantryToast) window.tenantryToast("Passkey added.");
        if (window.htmx && section) {
          window.htmx.ajax("GET", section.getAttribute("data-passkey-section"), { target: section, swap: "outerHTML" });
        } else {
          window.location.reload();
        }
      })
      .catch(function (error) { say(explain(error)); })
      .finally(function () { setTimeout(function () { idle(button); }, 0); });
  });

  // Sign-in page: any passkey this site knows signs its owner in, no e-mail address needed.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-passkey-sign-in]");
    if (!button) return;
    event.preventDefault();
    var status = button.parentElement.parentElement.querySelector("[data-passkey-status]");
    var say = function (text) { if (status) status.textContent = text; };
    if (!supported()) { say("This browser cannot use passkeys."); return; }
    say("");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    call("GET", "generate-authenticate-options")
      .then(function (options) { return navigator.credentials.get({ publicKey: requestOptions(options) }); })
      .then(function (credential) { return call("POST", "verify-authentication", { response: authenticationJSON(credential) }); })
      .then(function () {
        var next = button.getAttribute("data-next") || "/dashboard";
        window.location.assign(next.charAt(0) === "/" && next.charAt(1) !== "/" ? next : "/dashboard");
      })
      .catch(function (error) { say(explain(error)); idle(button); });
  });
})();
