# -*- coding: utf-8 -*-
"""Django settings for Bots in Kubernetes (ConfigMap bots-config), for Bots 3.3.1 and 4.0.

Bots 3.3.1's install/settings.py with what `bots-runtime init-db` writes into it, made to work
under either Bots: BOTSSYS_PATH (3.3.1's name) and BOTSSYS (4.0's) both name the folder next to
this config folder on the data volume; the database from BOTS_DB_* variables (SQLite by
default, PostgreSQL with BOTS_DB_ENGINE=postgresql and the Secret bots-db); SECRET_KEY from
BOTS_SECRET_KEY (put it in the Secret; the value below is public); host names and the
TLS-terminating proxy from BOTS_ALLOWED_HOSTS, BOTS_CSRF_TRUSTED_ORIGINS, BOTS_PROXY_SSL_HEADER
and BOTS_USE_X_FORWARDED_HOST (init-db's own block, below). Where Bots 3.3.1 (Django 2.2) and
Bots 4.0 (Django 5) want different values, `_BOTS4` decides, from the Bots that loads this file.
"""
from __future__ import unicode_literals

import os
import platform
import bots
from bots.__about__ import __version__ as _BOTS_VERSION

# Bots 4.0 (Django 4 and later; 5.1 and later for its SQLite options) or Bots 3.3.1 (Django 2.2):
# asked of Bots' own version string, which costs nothing (importing Django 2.2 costs 0.15 s).
_BOTS4 = int(_BOTS_VERSION.split('.')[0]) >= 4


PROJECT_PATH = os.path.abspath(os.path.dirname(bots.__file__))

BOTSENV = os.getenv('BOTSENV') or 'bots'
# bots-runtime: botssys is the folder next to this config directory (as in bots.ini)
BOTSSYS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'botssys')
BOTSSYS = BOTSSYS_PATH  # Bots 4.0's name for it

HOSTNAME = platform.node()

# *******settings for sending bots error reports via email**********************************
MANAGERS = (    # bots will send error reports to the MANAGERS
    ('name_manager', 'adress@test.com'),
)
EMAIL_HOST = 'localhost'    # Default: 'localhost'
EMAIL_PORT = '25'           # Default: 25
EMAIL_USE_TLS = False       # Default: False
EMAIL_HOST_USER = ''        # Default: ''. Username to use for the SMTP server defined in EMAIL_HOST. If empty, Django won't attempt authentication.
EMAIL_HOST_PASSWORD = ''    # Default: ''. PASSWORD to use for the SMTP server defined in EMAIL_HOST. If empty, Django won't attempt authentication.
SERVER_EMAIL = '%s@%s' % (BOTSENV, HOSTNAME)           # Sender of bots error reports. Default: 'root@localhost'
# EMAIL_SUBJECT_PREFIX = ''   # This is prepended on email subject.

# *********database settings (written by bots-runtime init-db)*************************
# BOTS_DB_ENGINE=sqlite3 (default): one file under botssys; one writer at a time only.
# BOTS_DB_ENGINE=postgresql: BOTS_DB_HOST, BOTS_DB_PORT, BOTS_DB_NAME, BOTS_DB_USER and
# BOTS_DB_PASSWORD name the server; `bots-runtime init-db` creates the schema.
_BOTS_DB_ENGINE = os.environ.get('BOTS_DB_ENGINE', 'sqlite3').strip().lower()
if _BOTS_DB_ENGINE in ('postgresql', 'postgres', 'postgresql_psycopg2'):
    DATABASES = {
        'default': {
            # the only PostgreSQL engine name Bots 3.3.1 accepts
            'ENGINE': 'django.db.backends.postgresql_psycopg2',
            'NAME': os.environ.get('BOTS_DB_NAME', 'botsdb'),
            'USER': os.environ.get('BOTS_DB_USER', 'bots'),
            'PASSWORD': os.environ.get('BOTS_DB_PASSWORD', ''),
            'HOST': os.environ.get('BOTS_DB_HOST', '127.0.0.1'),
            'PORT': os.environ.get('BOTS_DB_PORT', '5432'),
            'OPTIONS': {},
        }
    }
elif _BOTS_DB_ENGINE in ('sqlite3', 'sqlite'):
    DATABASES = {
        'default': {
            'ENGINE': 'django.db.backends.sqlite3',
            'NAME': os.path.join(BOTSSYS_PATH, 'sqlitedb', 'botsdb'),
            'USER': '',
            'PASSWORD': '',
            'HOST': '',
            'PORT': '',
            # Bots 4.0's own choices; Django 2.2 (Bots 3.3.1) knows none of them.
            'OPTIONS': {
                'init_command': 'PRAGMA synchronous=OFF;',
                'transaction_mode': 'EXCLUSIVE',
                'timeout': 99.0,
            } if _BOTS4 else {},
        }
    }
else:
    raise ValueError('BOTS_DB_ENGINE=%r: expected sqlite3 or postgresql' % _BOTS_DB_ENGINE)
#~ #MySQL:
#~ DATABASES = {
    #~ 'default': {
        #~ 'ENGINE': 'django.db.backends.mysql',
        #~ 'NAME': 'botsdb',
        #~ 'USER': 'bots',
        #~ 'PASSWORD': 'botsbots',
        #~ 'HOST': '127.0.0.1',
        #~ 'PORT': '3306',
        #~ 'OPTIONS': {'use_unicode':True,'charset':'utf8','init_command': 'SET storage_engine=INNODB'},
    #~ }
#~ }
#~ #PostgreSQL:
# DATABASES = {
#     'default': {
#         'ENGINE': 'django.db.backends.postgresql_psycopg2',
#         'NAME': 'botsdb',
#         'USER': 'bots',
#         'PASSWORD': 'botsbots',
#         'HOST': '127.0.0.1',
#         'PORT': '5432',
#         'OPTIONS': {},
#         }
#     }

# *********setting date/time zone and formats *************************
# Local time zone for this installation. Choices can be found here:
# http://en.wikipedia.org/wiki/List_of_tz_zones_by_name
# although not all choices may be available on all operating systems.
# If running in a Windows environment this must be set to the same as your
# system time zone.
TIME_ZONE = os.environ.get('BOTS_TIME_ZONE', 'UTC')
# Bots' engine works in local time: Django 2.2's default, and what Bots 4.0's template sets
# (Django 5 would default to True).
USE_TZ = False

# ******language code/internationalization*************************
# Language code for this installation. All choices can be found here:
# http://www.i18nguy.com/unicode/language-identifiers.html
LANGUAGE_CODE = 'en-us'
# LANGUAGE_CODE = 'nl'
# LANGUAGE_CODE = 'fr'
USE_I18N = True

# *************************************************************************
# *********other django setting. please consult django docs.***************
# *************************************************************************
# *************************************************************************

# *********path settings*************************
STATIC_URL = '/static/'
STATIC_ROOT = os.path.join(BOTSSYS_PATH, 'static')
ROOT_URLCONF = 'bots.urls'
LOGIN_URL = '/login/'
LOGIN_REDIRECT_URL = '/home'
LOGOUT_URL = '/logout/'
# LOGOUT_REDIRECT_URL = # not such parameter; is set in urls.py
# *********host names and proxies (written by bots-runtime init-db)*********************
# BOTS_ALLOWED_HOSTS: the host names the web UI answers to, comma-separated (default *).
#   127.0.0.1, localhost and [::1] are always added: bots-runtime checks the UI there.
# BOTS_CSRF_TRUSTED_ORIGINS: where a login form may be sent from when the proxy rewrites the
#   Host header, comma-separated: https://bots.example.com (a bare host name means https).
#   Django 4 and later (Bots 4.0) get it as written; Django 2.2 (Bots 3.3.1) without https://.
# BOTS_PROXY_SSL_HEADER: the header a TLS-terminating proxy sets to https on every request,
#   such as X-Forwarded-Proto (default: none). Set it only behind a proxy that always sets or
#   removes that header, never where clients reach the web UI directly.
# BOTS_USE_X_FORWARDED_HOST: true when the proxy passes the original host in X-Forwarded-Host.
_BOTS_SCHEMED_ORIGINS = _BOTS4


def _bots_list(name, default=''):
    return [part.strip() for part in os.environ.get(name, default).split(',') if part.strip()]


def _bots_origin(origin):
    address = origin.split('://', 1)[-1].rstrip('/')
    if _BOTS_SCHEMED_ORIGINS:
        if '://' in origin:
            return origin.rstrip('/')
        return 'https://' + ('*' + address if address.startswith('.') else address)
    return address[1:] if address.startswith('*.') else address


ALLOWED_HOSTS = _bots_list('BOTS_ALLOWED_HOSTS', '*')
if '*' not in ALLOWED_HOSTS:
    ALLOWED_HOSTS += ['127.0.0.1', 'localhost', '[::1]']
CSRF_TRUSTED_ORIGINS = [_bots_origin(item) for item in _bots_list('BOTS_CSRF_TRUSTED_ORIGINS')]
if os.environ.get('BOTS_PROXY_SSL_HEADER', '').strip():
    SECURE_PROXY_SSL_HEADER = (
        'HTTP_' + os.environ['BOTS_PROXY_SSL_HEADER'].strip().upper().replace('-', '_'),
        'https',
    )
_BOTS_FLAGS = {'1': True, 'true': True, 'yes': True, 'on': True,
               '0': False, 'false': False, 'no': False, 'off': False, '': False}
_bots_forwarded_host = os.environ.get('BOTS_USE_X_FORWARDED_HOST', '').strip().lower()
if _bots_forwarded_host not in _BOTS_FLAGS:
    raise ValueError('BOTS_USE_X_FORWARDED_HOST=%r: expected true or false'
                     % os.environ['BOTS_USE_X_FORWARDED_HOST'])
USE_X_FORWARDED_HOST = _BOTS_FLAGS[_bots_forwarded_host]

# *********sessions, cookies, log out time*************************
SESSION_EXPIRE_AT_BROWSER_CLOSE = True      #True: always log in when browser is closed
SESSION_COOKIE_AGE = 3600                   #seconds a user needs to login when no activity
SESSION_SAVE_EVERY_REQUEST = True           #if True: SESSION_COOKIE_AGE is interpreted as: since last activity

# set in bots.ini
#~ DEBUG = True
#~ TEMPLATE_DEBUG = DEBUG
SITE_ID = 1
# Make this unique, and don't share it with anybody.
SECRET_KEY = os.environ.get('BOTS_SECRET_KEY') or 'not-secret-set-BOTS_SECRET_KEY'

# *******includes for django*************************************************************************
LOCALE_PATHS = (
    os.path.join(PROJECT_PATH, 'locale'),
)

# save uploaded file (=plugin) always to file. no path for temp storage is used, so system default is used.
FILE_UPLOAD_HANDLERS = (
    'django.core.files.uploadhandler.TemporaryFileUploadHandler',
)

# Application definition
INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'bots',
]
MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [
            os.path.join(PROJECT_PATH, 'templates'),
        ],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.debug',
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
                'bots.bots_context.set_context',
            ],
        },
    },
]

# Password validation
AUTH_PASSWORD_VALIDATORS = [
    {
        'NAME': 'django.contrib.auth.password_validation.UserAttributeSimilarityValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.CommonPasswordValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.NumericPasswordValidator',
    },
]
