# Activate a safevenv environment from bash or zsh: `source bin/activate` (running it does nothing).
# Afterwards `deactivate` puts the shell back as it was.
# The variable names are the ones every venv tool uses, so activating this environment over another
# one (or the reverse) still restores the original shell.

deactivate () {
    if [ -n "${_OLD_VIRTUAL_PATH+set}" ]; then
        PATH="$_OLD_VIRTUAL_PATH"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${_OLD_VIRTUAL_PYTHONHOME+set}" ]; then
        PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    if [ -n "${_OLD_VIRTUAL_PS1+set}" ]; then
        PS1="$_OLD_VIRTUAL_PS1"
        export PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    # The shell remembers where it found `python`: make it look again.
    hash -r 2>/dev/null
    if [ "${1:-}" != "nondestructive" ]; then
        unset -f deactivate
    fi
}

# Leave whichever environment is active, but keep the function just defined.
deactivate nondestructive

VIRTUAL_ENV=__SAFEVENV_ROOT__
export VIRTUAL_ENV

_OLD_VIRTUAL_PATH="${PATH:-}"
PATH=__SAFEVENV_SCRIPTS__":${PATH:-}"
export PATH

VIRTUAL_ENV_PROMPT=__SAFEVENV_PROMPT__
export VIRTUAL_ENV_PROMPT

# A PYTHONHOME would point the environment's interpreter at another installation.
if [ -n "${PYTHONHOME+set}" ]; then
    _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi

if [ -z "${VIRTUAL_ENV_DISABLE_PROMPT:-}" ]; then
    _OLD_VIRTUAL_PS1="${PS1:-}"
    PS1="($VIRTUAL_ENV_PROMPT) ${PS1:-}"
    export PS1
fi

hash -r 2>/dev/null
