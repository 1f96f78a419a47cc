<?php
$ch=curl_init();
curl_setopt_array($ch, array(
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_URL => 'https://www.backuprun.com/api.php',
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => array(
        'apiCALL' => 'setServiceConfigured',
        'activation_hint' => 'linux-express-install',
       'service_id' => 'V16428'
   )
));
$r=curl_exec($ch);
if($r === false)die('error!');
?>
