# Activate a safevenv environment from csh or tcsh: `source bin/activate.csh`.
# Afterwards `deactivate` puts the shell back as it was.

alias deactivate 'if ($?_OLD_VIRTUAL_PATH) setenv PATH "$_OLD_VIRTUAL_PATH:q"; unset _OLD_VIRTUAL_PATH; if ($?_OLD_VIRTUAL_PROMPT) set prompt="$_OLD_VIRTUAL_PROMPT:q"; unset _OLD_VIRTUAL_PROMPT; unsetenv VIRTUAL_ENV; unsetenv VIRTUAL_ENV_PROMPT; rehash; test "\!:*" != "nondestructive" && unalias deactivate'

# Leave whichever environment is active, but keep the alias just defined.
deactivate nondestructive

setenv VIRTUAL_ENV __SAFEVENV_ROOT__
set _OLD_VIRTUAL_PATH="$PATH:q"
setenv PATH __SAFEVENV_SCRIPTS__":$PATH:q"
setenv VIRTUAL_ENV_PROMPT __SAFEVENV_PROMPT__

if (! $?VIRTUAL_ENV_DISABLE_PROMPT) then
    if ($?prompt) then
        set _OLD_VIRTUAL_PROMPT="$prompt:q"
        set prompt="($VIRTUAL_ENV_PROMPT:q) $prompt:q"
    endif
endif

rehash
