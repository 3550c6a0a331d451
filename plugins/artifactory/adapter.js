// JFrog Artifactory registry adapter, in JavaScript (componentized with componentize-js; see
// ./build). World `registry-adapter-plugin` of hangar:plugin@0.1.1 (../../wit/plugin.wit).
//
// Artifactory serves Docker registries with the "repository path" method here: images are
// pushed as REGISTRY/<repo-key>/<image path>, so a repository's first path segment is an
// Artifactory repository key (as a Harbor project is). JFrog's REST API:
//   GET /artifactory/api/system/ping           → 200 "OK"
//   GET /artifactory/api/repositories/{key}    → 200 (config JSON); 400 or 404 when missing
//   PUT /artifactory/api/repositories/{key}    → 200 "Successfully created repository '...'"
//                                                 (admin only; 400 when the key exists)
// Errors: {"errors":[{"status":401,"message":"..."}]} (the Docker API under /v2/ answers
// {"errors":[{"code":"...","message":"..."}]}).
//
// Conventions of the bindings: an export returning result<T, string> returns T, and throws a
// string for the error (a thrown Error object would trap); an import returning a result
// throws on error, with the error string in `e.payload`.

import { registryUrl } from 'hangar:plugin/endpoints@0.1.1';
import { send } from 'hangar:plugin/http@0.1.1';
import { log } from 'hangar:plugin/log@0.1.1';

const NAME = 'artifactory';
const VERSION = '0.1.0';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

function text(response) {
  return utf8.decode(response.body);
}

/** One request; the host's refusal or a network failure comes back as a rejected string. */
function request(method, url, withCredentials, { headers = [], body } = {}) {
  try {
    return send(
      {
        method,
        url,
        headers: headers.map(([name, value]) => ({ name, value })),
        body: body === undefined ? undefined : encoder.encode(body),
      },
      withCredentials,
    );
  } catch (e) {
    throw errorText(e);
  }
}

function errorText(e) {
  if (e && typeof e === 'object' && 'payload' in e) return String(e.payload);
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Artifactory answers its ping with the two letters OK. */
function isPong(response) {
  return response.status === 200 && text(response).trim() === 'OK';
}

/**
 * The REST API base of `registry` (`https://HOST/artifactory/api`), at the scheme hangar
 * reaches the registry with (plain http only when the user allowed it and the registry speaks
 * nothing else). The ping is anonymous; when anonymous access is off (401/403) it is asked
 * again with the registry's credentials (the host adds them, over https only unless TLS
 * verification is off).
 */
function apiBase(registry) {
  let base;
  try {
    base = `${registryUrl(registry)}/artifactory/api`;
  } catch (e) {
    throw errorText(e);
  }
  const ping = `${base}/system/ping`;
  let response = request('GET', ping, false);
  if (response.status === 401 || response.status === 403) {
    response = request('GET', ping, true);
  }
  if (isPong(response)) return base;
  throw `ping answered ${response.status}`;
}

/** The message of an Artifactory (or Docker API) error body, if it has one. */
function errorMessage(body) {
  try {
    const first = JSON.parse(body)?.errors?.[0];
    if (first && typeof first.message === 'string' && first.message !== '') {
      return first.code ? `${first.code}: ${first.message}` : first.message;
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/** What a response says, for an error line: the JSON message, else the body's first line. */
function said(response) {
  const body = text(response);
  const message = errorMessage(body) ?? body.split('\n')[0].trim().slice(0, 200);
  return message ? `${response.status} ${message}` : `${response.status}`;
}

/** The repository key of an image repository: its first path segment, if it has a path. */
function repoKeyOf(repository) {
  const segments = repository.split('/');
  return segments.length > 1 && segments[0] !== '' ? segments[0] : undefined;
}

/** Characters JFrog does not allow in a repository key (and at most 64 of them). */
const FORBIDDEN = /[/\\:|?*"<>&\s]/;

const PERMISSIONS =
  'the user needs the Deploy/Cache permission on the repository, and to let hangar create ' +
  'missing repositories, an admin user (or the Manage permission)';

export const registryAdapter = {
  describe() {
    return { name: NAME, version: VERSION, hosts: ['$registry'] };
  },

  detect(registry) {
    try {
      apiBase(registry);
      log('info', `${registry} is JFrog Artifactory`);
      return true;
    } catch (e) {
      log('debug', `${registry} is not Artifactory: ${e}`);
      return false;
    }
  },

  preparePush(registry, repositories, options) {
    for (const [key, value] of options) {
      if (key === 'public') {
        log('info', `option public=${value} is Harbor's and is ignored: who may pull from an Artifactory repository is set by its permissions in Artifactory`);
      } else {
        log('warn', `unknown option ${key}=${value} ignored`);
      }
    }
    let base;
    try {
      base = apiBase(registry);
    } catch (e) {
      throw `${registry} does not answer as Artifactory (${e})`;
    }
    const notes = [];
    const keys = new Set();
    for (const repository of repositories) {
      const key = repoKeyOf(repository);
      if (key === undefined) {
        notes.push(`${repository}: no repository key (REGISTRY/KEY/IMAGE is expected with Artifactory's repository path method); not checked`);
      } else {
        keys.add(key);
      }
    }
    for (const key of [...keys].sort()) {
      if (key.length > 64 || FORBIDDEN.test(key) || key === '.' || key === '..') {
        throw `"${key}" cannot be an Artifactory repository key`;
      }
      const url = `${base}/repositories/${encodeURIComponent(key)}`;
      const found = request('GET', url, true, { headers: [['Accept', 'application/json']] });
      if (found.status === 200) {
        notes.push(`repository ${key} exists${unfit(found)}`);
        continue;
      }
      if (found.status === 401 || found.status === 403) {
        throw `cannot check Artifactory repository ${key}: ${said(found)} (are the credentials for ${registry} right? hangar login ${registry})`;
      }
      if (found.status !== 400 && found.status !== 404) {
        throw `cannot check Artifactory repository ${key}: ${said(found)}`;
      }
      const config = {
        key,
        rclass: 'local',
        packageType: 'docker',
        dockerApiVersion: 'V2',
        description: 'created by hangar',
      };
      const created = request('PUT', url, true, {
        headers: [['Content-Type', 'application/json']],
        body: JSON.stringify(config),
      });
      if (created.status === 200 || created.status === 201) {
        notes.push(`created Artifactory repository ${key} (local Docker V2)`);
      } else if (created.status === 400 && /already exists/i.test(text(created))) {
        // Created meanwhile by someone else.
        notes.push(`repository ${key} exists`);
      } else if (created.status === 401 || created.status === 403) {
        throw `cannot create Artifactory repository ${key}: ${said(created)}: only an admin user may create repositories: create ${key} in Artifactory (a local Docker repository), or log in as an admin user (hangar login ${registry})`;
      } else {
        throw `cannot create Artifactory repository ${key}: ${said(created)}; create ${key} in Artifactory (a local Docker repository)`;
      }
    }
    return notes;
  },

  classifyError(status, body) {
    const message = errorMessage(body);
    const detail = message ? ` (${message})` : '';
    if (status === 401 || status === 403) {
      return `Artifactory refused the request${detail}: ${PERMISSIONS}`;
    }
    if (status === 404 && /repository/i.test(body)) {
      return `the Artifactory repository does not exist${detail}: images go to REGISTRY/KEY/IMAGE, where KEY is an Artifactory repository key; create a local Docker repository KEY in Artifactory, or let hangar create it by logging in as an admin user`;
    }
    return message ? `Artifactory: ${message}` : undefined;
  },
};

/** A note when an existing repository cannot take Docker pushes (not docker, or remote). */
function unfit(response) {
  let config;
  try {
    config = JSON.parse(text(response));
  } catch {
    return '';
  }
  const type = config?.packageType;
  if (typeof type === 'string' && type.toLowerCase() !== 'docker') {
    return ` (warning: a ${type} repository, not docker; pushes to it will fail)`;
  }
  if (config?.rclass === 'remote') {
    return ' (warning: a remote repository, which does not take pushes)';
  }
  return '';
}
