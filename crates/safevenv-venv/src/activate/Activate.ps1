# Activate a safevenv environment from PowerShell: dot-source it, `. bin/Activate.ps1`.
# Afterwards `deactivate` puts the session back as it was.

function global:deactivate([switch] $NonDestructive) {
    if (Test-Path -Path Variable:global:_OLD_VIRTUAL_PATH) {
        $env:PATH = $global:_OLD_VIRTUAL_PATH
        Remove-Variable -Name _OLD_VIRTUAL_PATH -Scope Global
    }
    if (Test-Path -Path Variable:global:_OLD_VIRTUAL_PYTHONHOME) {
        $env:PYTHONHOME = $global:_OLD_VIRTUAL_PYTHONHOME
        Remove-Variable -Name _OLD_VIRTUAL_PYTHONHOME -Scope Global
    }
    if (Test-Path -Path Function:_OLD_VIRTUAL_PROMPT) {
        Copy-Item -Path Function:_OLD_VIRTUAL_PROMPT -Destination Function:global:prompt
        Remove-Item -Path Function:_OLD_VIRTUAL_PROMPT
    }
    Remove-Item -Path Env:VIRTUAL_ENV -ErrorAction SilentlyContinue
    Remove-Item -Path Env:VIRTUAL_ENV_PROMPT -ErrorAction SilentlyContinue
    if (-not $NonDestructive) {
        Remove-Item -Path Function:deactivate
    }
}

# Leave whichever environment is active, but keep the function just defined.
deactivate -NonDestructive

$env:VIRTUAL_ENV = __SAFEVENV_ROOT__
$env:VIRTUAL_ENV_PROMPT = __SAFEVENV_PROMPT__
$global:_OLD_VIRTUAL_PATH = $env:PATH
$env:PATH = __SAFEVENV_SCRIPTS__ + [System.IO.Path]::PathSeparator + $env:PATH

# A PYTHONHOME would point the environment's interpreter at another installation.
if (Test-Path -Path Env:PYTHONHOME) {
    $global:_OLD_VIRTUAL_PYTHONHOME = $env:PYTHONHOME
    Remove-Item -Path Env:PYTHONHOME
}

if (-not $env:VIRTUAL_ENV_DISABLE_PROMPT) {
    Copy-Item -Path Function:prompt -Destination Function:global:_OLD_VIRTUAL_PROMPT
    function global:prompt {
        Write-Host -NoNewline "($env:VIRTUAL_ENV_PROMPT) "
        _OLD_VIRTUAL_PROMPT
    }
}
