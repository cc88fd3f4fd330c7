# Activate a safevenv environment from fish: `source bin/activate.fish`.
# Afterwards `deactivate` puts the shell back as it was.

function deactivate --description 'Leave the safevenv environment'
    if set -q _OLD_VIRTUAL_PATH
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if set -q _OLD_VIRTUAL_PYTHONHOME
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
    if set -q _OLD_FISH_PROMPT_OVERRIDE
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _safevenv_saved_prompt
            functions -e fish_prompt
            functions -c _safevenv_saved_prompt fish_prompt
            functions -e _safevenv_saved_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end

# Leave whichever environment is active, but keep the function just defined.
deactivate nondestructive

set -gx VIRTUAL_ENV __SAFEVENV_ROOT__
set -gx _OLD_VIRTUAL_PATH $PATH
set -gx PATH __SAFEVENV_SCRIPTS__ $PATH
set -gx VIRTUAL_ENV_PROMPT __SAFEVENV_PROMPT__

# A PYTHONHOME would point the environment's interpreter at another installation.
if set -q PYTHONHOME
    set -gx _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    if functions -q fish_prompt
        functions -c fish_prompt _safevenv_saved_prompt
    end
    function fish_prompt
        printf '(%s) ' $VIRTUAL_ENV_PROMPT
        if functions -q _safevenv_saved_prompt
            _safevenv_saved_prompt
        end
    end
    set -gx _OLD_FISH_PROMPT_OVERRIDE $VIRTUAL_ENV
end
